// Repository descriptions: Markdown, with any raw HTML shown as text (react-markdown escapes it) and
// only http(s)/mailto links, so a description cannot run script or frame anything.
import ReactMarkdown from 'react-markdown';
import {Content} from '@patternfly/react-core';

function safeUrl(url: string): string {
  return /^(https?:|mailto:|#|\/)/i.test(url) ? url : '';
}

export function Markdown({text}: {text: string}) {
  return (
    <Content>
      <ReactMarkdown urlTransform={safeUrl}>
        {text}
      </ReactMarkdown>
    </Content>
  );
}
