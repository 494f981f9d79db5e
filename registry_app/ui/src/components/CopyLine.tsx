// A command or secret with a copy button: one line in PatternFly's ClipboardCopy, several lines
// (a YAML or JSON document) in a code block.
import {
  ClipboardCopy,
  ClipboardCopyButton,
  CodeBlock,
  CodeBlockAction,
  CodeBlockCode,
} from '@patternfly/react-core';
import {useId, useState} from 'react';

export function CopyLine({value, label, multiline = false}: {value: string; label: string; multiline?: boolean}) {
  const id = useId();
  const [copied, setCopied] = useState(false);
  if (!multiline) {
    return (
      <ClipboardCopy isReadOnly hoverTip="Copy" clickTip="Copied" textAriaLabel={label} toggleAriaLabel={`Show ${label}`} isCode>
        {value}
      </ClipboardCopy>
    );
  }
  const copy = () => {
    navigator.clipboard?.writeText(value).then(() => setCopied(true), () => setCopied(false));
  };
  return (
    <CodeBlock
      actions={
        <CodeBlockAction>
          <ClipboardCopyButton
            id={`${id}-copy`}
            textId={`${id}-text`}
            aria-label={`Copy ${label}`}
            onClick={copy}
            exitDelay={copied ? 1500 : 600}
            variant="plain"
            onTooltipHidden={() => setCopied(false)}
          >
            {copied ? 'Copied' : 'Copy'}
          </ClipboardCopyButton>
        </CodeBlockAction>
      }
    >
      <CodeBlockCode id={`${id}-text`} aria-label={label}>
        {value}
      </CodeBlockCode>
    </CodeBlock>
  );
}
