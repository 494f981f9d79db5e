// POST /api/v1/externallogin/{service}: where to send the browser to sign in with an OpenID
// Connect provider (the list of providers is /config's external_login).
import {useMutation} from '@tanstack/react-query';
import {path, post} from 'src/libs/api';

export interface ExternalLoginService {
  id: string;
  title: string;
  icon: string | null;
}

export function useExternalLogin() {
  return useMutation({
    mutationFn: async (service: string) => {
      const body = await post<{auth_url: string}>(path`/api/v1/externallogin/${service}`, {kind: 'login'});
      window.location.assign(body.auth_url);
    },
  });
}
