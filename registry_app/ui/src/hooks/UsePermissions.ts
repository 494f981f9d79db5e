// /api/v1/repository/{ns}/{repo}/permissions/user/ and /team/.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, put} from 'src/libs/api';

export type Role = 'read' | 'write' | 'admin';

export interface Permission {
  kind: 'user' | 'robot' | 'team';
  name: string;
  role: Role;
}

export function usePermissions(namespace: string, name: string, enabled: boolean) {
  const base = path`/api/v1/repository/${namespace}/${name}/permissions`;
  return useQuery({
    queryKey: ['permissions', namespace, name],
    enabled,
    queryFn: async () => {
      type Entry = {name: string; role: Role; is_robot?: boolean};
      const [users, teams] = await Promise.all([
        get<{permissions: Record<string, Entry>}>(`${base}/user/`),
        get<{permissions: Record<string, Entry>}>(`${base}/team/`),
      ]);
      const out: Permission[] = [
        ...Object.values(users.permissions).map((p) => ({
          kind: (p.is_robot ? 'robot' : 'user') as Permission['kind'],
          name: p.name,
          role: p.role,
        })),
        ...Object.values(teams.permissions).map((p) => ({kind: 'team' as const, name: p.name, role: p.role})),
      ];
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
  });
}

export function usePermissionChanges(namespace: string, name: string) {
  const client = useQueryClient();
  const base = path`/api/v1/repository/${namespace}/${name}/permissions`;
  const which = (p: Pick<Permission, 'kind' | 'name'>) =>
    `${base}/${p.kind === 'team' ? 'team' : 'user'}/${encodeURIComponent(p.name)}`;
  const refresh = () => client.invalidateQueries({queryKey: ['permissions', namespace, name]});
  return {
    set: useMutation({
      mutationFn: (p: Pick<Permission, 'kind' | 'name' | 'role'>) => put(which(p), {role: p.role}),
      onSuccess: refresh,
    }),
    remove: useMutation({mutationFn: (p: Pick<Permission, 'kind' | 'name'>) => del(which(p)), onSuccess: refresh}),
  };
}
