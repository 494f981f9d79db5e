// /api/v1/superuser/users/: every user, for superusers.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post, put} from 'src/libs/api';

export interface ManagedUser {
  username: string;
  email: string | null;
  super_user: boolean;
  enabled: boolean;
}

export function useSuperuserUsers(enabled: boolean) {
  return useQuery({
    queryKey: ['superuser-users'],
    enabled,
    queryFn: () => get<{users: ManagedUser[]}>('/api/v1/superuser/users/').then((b) => b.users),
  });
}

export function useSuperuserUserChanges() {
  const client = useQueryClient();
  const refresh = () => client.invalidateQueries({queryKey: ['superuser-users']});
  return {
    create: useMutation({
      mutationFn: (u: {username: string; email?: string}) =>
        post<{username: string; password: string}>('/api/v1/superuser/users/', u),
      onSuccess: refresh,
    }),
    setEnabled: useMutation({
      mutationFn: (v: {username: string; enabled: boolean}) =>
        put(path`/api/v1/superuser/users/${v.username}`, {enabled: v.enabled}),
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: (username: string) => del(path`/api/v1/superuser/users/${username}`),
      onSuccess: refresh,
    }),
  };
}
