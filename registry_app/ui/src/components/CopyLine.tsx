// A command or secret with a copy button (PatternFly's ClipboardCopy).
import {ClipboardCopy, ClipboardCopyVariant} from '@patternfly/react-core';

export function CopyLine({value, label, multiline = false}: {value: string; label: string; multiline?: boolean}) {
  return (
    <ClipboardCopy
      isReadOnly
      hoverTip="Copy"
      clickTip="Copied"
      textAriaLabel={label}
      toggleAriaLabel={`Show ${label}`}
      variant={multiline ? ClipboardCopyVariant.expansion : ClipboardCopyVariant.inline}
      isExpanded={multiline}
      isCode
    >
      {value}
    </ClipboardCopy>
  );
}
