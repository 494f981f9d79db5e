// /api/v1/user/apptoken: app-specific tokens of the signed-in user.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post} from 'src/libs/api';

export interface AppToken {
  uuid: string;
  title: string;
  created: string | null;
  expiration: string | null;
  last_accessed: string | null;
  token_code?: string;
}

export function useAppTokens() {
  return useQuery({
    queryKey: ['apptokens'],
    queryFn: () => get<{tokens: AppToken[]}>('/api/v1/user/apptoken').then((b) => b.tokens),
  });
}

export function useAppTokenChanges() {
  const client = useQueryClient();
  const refresh = () => client.invalidateQueries({queryKey: ['apptokens']});
  return {
    create: useMutation({
      mutationFn: (title: string) => post<{token: AppToken}>('/api/v1/user/apptoken', {title}).then((b) => b.token),
      onSuccess: refresh,
    }),
    revoke: useMutation({mutationFn: (uuid: string) => del(path`/api/v1/user/apptoken/${uuid}`), onSuccess: refresh}),
  };
}
