// GET/PUT/DELETE /api/v1/organization/{org}, POST /api/v1/organization/.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post, put} from 'src/libs/api';

export interface Team {
  name: string;
  description: string;
  role: 'member' | 'creator' | 'admin';
  member_count: number;
  repo_count: number;
  can_view: boolean;
}

export interface Organization {
  name: string;
  email: string;
  is_admin: boolean;
  is_member: boolean;
  teams?: Record<string, Team>;
  ordered_teams?: string[];
  tag_expiration_s?: number;
}

export function useOrganization(name: string) {
  return useQuery({
    queryKey: ['organization', name],
    queryFn: () => get<Organization>(path`/api/v1/organization/${name}`),
  });
}

export function useCreateOrganization() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (org: {name: string; email?: string}) => post('/api/v1/organization/', org),
    onSuccess: () => client.invalidateQueries({queryKey: ['user']}),
  });
}

export function useOrganizationChanges(name: string) {
  const client = useQueryClient();
  return {
    update: useMutation({
      mutationFn: (changes: {email?: string; tag_expiration_s?: number}) =>
        put(path`/api/v1/organization/${name}`, changes),
      onSuccess: () => client.invalidateQueries({queryKey: ['organization', name]}),
    }),
    remove: useMutation({
      mutationFn: () => del(path`/api/v1/organization/${name}`),
      onSuccess: () => client.invalidateQueries({queryKey: ['user']}),
    }),
  };
}
