// PUT/DELETE /api/v1/organization/{org}/team/{team}, its members.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, put} from 'src/libs/api';

export interface TeamMember {
  name: string;
  kind: string;
  is_robot: boolean;
}

export function useTeamMembers(org: string, team: string | null) {
  return useQuery({
    queryKey: ['team-members', org, team],
    queryFn: () =>
      get<{members: TeamMember[]}>(path`/api/v1/organization/${org}/team/${team ?? ''}/members`).then(
        (b) => b.members,
      ),
    enabled: !!team,
  });
}

export function useTeamChanges(org: string) {
  const client = useQueryClient();
  const refresh = () => {
    client.invalidateQueries({queryKey: ['organization', org]});
    client.invalidateQueries({queryKey: ['team-members', org]});
    client.invalidateQueries({queryKey: ['members', org]});
  };
  return {
    save: useMutation({
      mutationFn: (t: {name: string; role: string; description?: string}) =>
        put(path`/api/v1/organization/${org}/team/${t.name}`, {role: t.role, description: t.description ?? ''}),
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: (team: string) => del(path`/api/v1/organization/${org}/team/${team}`),
      onSuccess: refresh,
    }),
    addMember: useMutation({
      mutationFn: (v: {team: string; member: string}) =>
        put(path`/api/v1/organization/${org}/team/${v.team}/members/${v.member}`),
      onSuccess: refresh,
    }),
    removeMember: useMutation({
      mutationFn: (v: {team: string; member: string}) =>
        del(path`/api/v1/organization/${org}/team/${v.team}/members/${v.member}`),
      onSuccess: refresh,
    }),
  };
}
