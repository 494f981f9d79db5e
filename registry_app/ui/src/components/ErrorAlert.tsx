// Every API error as a readable message (the API's own words; a hint for the common statuses).
import {Alert} from '@patternfly/react-core';
import {ApiError} from 'src/libs/api';

function hint(error: unknown): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  if (error.status === 401) return 'Sign in to see this.';
  if (error.status === 403) return 'Your account has no permission for this.';
  if (error.status === 404) return 'It does not exist, or it was deleted.';
  if (error.status === 429) return 'Too many attempts: wait a minute, then try again.';
  if (error.status >= 500) return 'The registry had a problem; the server log says more.';
  return undefined;
}

export function ErrorAlert({error, title}: {error: unknown; title?: string}) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <Alert variant="danger" isInline title={title ?? message} role="alert">
      {title ? <p>{message}</p> : null}
      {hint(error) ? <p>{hint(error)}</p> : null}
    </Alert>
  );
}
