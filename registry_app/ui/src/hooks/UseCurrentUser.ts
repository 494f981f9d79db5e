// GET /api/v1/user/ (null when nobody is signed in), and sign-in, sign-out, sign-up, verify.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {ApiError, forgetCsrfToken, get, post} from 'src/libs/api';

export interface UserOrganization {
  name: string;
  is_org_admin: boolean;
}

export interface CurrentUser {
  username: string;
  email: string | null;
  super_user: boolean;
  organizations: UserOrganization[];
  tag_expiration_s: number;
}

export function useCurrentUser() {
  return useQuery({
    queryKey: ['user'],
    queryFn: async () => {
      try {
        return await get<CurrentUser>('/api/v1/user/');
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    staleTime: 30_000,
  });
}

export function useSignIn() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (creds: {username: string; password: string}) => post('/api/v1/signin', creds),
    onSuccess: () => client.invalidateQueries(),
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => post('/api/v1/signout'),
    onSettled: () => {
      forgetCsrfToken();
      client.clear();
    },
  });
}

export function useCreateAccount() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (account: {username: string; password: string; email?: string}) =>
      post<CurrentUser>('/api/v1/user/', account),
    onSuccess: () => client.invalidateQueries(),
  });
}

export function useVerifyPassword() {
  return useMutation({mutationFn: (password: string) => post('/api/v1/signin/verify', {password})});
}
