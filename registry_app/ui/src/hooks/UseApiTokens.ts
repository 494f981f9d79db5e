// /api/v1/user/apitoken: API tokens of the signed-in user (Bearer on the API, $oauthtoken for
// registry clients).
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post} from 'src/libs/api';

export interface ApiToken {
  id: number;
  title: string;
  scopes: string[];
  created: string | null;
  expiration: string | null;
  access_token?: string;
}

export const SCOPES: [string, string][] = [
  ['repo:read', 'Read repositories'],
  ['repo:write', 'Push to repositories'],
  ['repo:create', 'Create repositories'],
  ['repo:admin', 'Administer repositories'],
  ['user:read', 'Read your account'],
  ['user:admin', 'Administer your account'],
  ['org:admin', 'Administer organizations'],
  ['super:user', 'Superuser'],
];

export function useApiTokens() {
  return useQuery({
    queryKey: ['apitokens'],
    queryFn: () => get<{tokens: ApiToken[]}>('/api/v1/user/apitoken').then((b) => b.tokens),
  });
}

export function useApiTokenChanges() {
  const client = useQueryClient();
  const refresh = () => client.invalidateQueries({queryKey: ['apitokens']});
  return {
    create: useMutation({
      mutationFn: (t: {title: string; scopes: string[]}) =>
        post<{token: ApiToken}>('/api/v1/user/apitoken', t).then((b) => b.token),
      onSuccess: refresh,
    }),
    revoke: useMutation({mutationFn: (id: number) => del(path`/api/v1/user/apitoken/${id}`), onSuccess: refresh}),
  };
}
