// Robot accounts of an organization (/api/v1/organization/{org}/robots) or of the signed-in
// user (/api/v1/user/robots). Lists come without tokens; one robot's token is fetched when shown.
import {useMutation, useQuery, useQueryClient} from '@tanstack/react-query';
import {del, get, path, post, put} from 'src/libs/api';

export interface Robot {
  name: string;
  description: string;
  created: string | null;
  token?: string;
  teams?: {name: string}[];
  repositories?: string[];
}

// ``org`` null: the signed-in user's robots.
function base(org: string | null): string {
  return org ? path`/api/v1/organization/${org}/robots` : '/api/v1/user/robots';
}

export function shortName(robot: string): string {
  return robot.split('+').slice(1).join('+');
}

export function useRobots(org: string | null, enabled = true) {
  return useQuery({
    queryKey: ['robots', org ?? ''],
    queryFn: () => get<{robots: Robot[]}>(`${base(org)}?token=false&permissions=true`).then((b) => b.robots),
    enabled,
  });
}

export function useRobot(org: string | null, short: string | null) {
  return useQuery({
    queryKey: ['robot', org ?? '', short],
    queryFn: () => get<Robot>(`${base(org)}/${encodeURIComponent(short ?? '')}`),
    enabled: !!short,
    gcTime: 0, // the token is not kept once the dialog is closed
  });
}

export function useRobotChanges(org: string | null) {
  const client = useQueryClient();
  const refresh = () => client.invalidateQueries({queryKey: ['robots', org ?? '']});
  return {
    create: useMutation({
      mutationFn: (r: {short: string; description?: string}) =>
        put<Robot>(`${base(org)}/${encodeURIComponent(r.short)}`, {description: r.description ?? ''}),
      onSuccess: refresh,
    }),
    remove: useMutation({
      mutationFn: (short: string) => del(`${base(org)}/${encodeURIComponent(short)}`),
      onSuccess: refresh,
    }),
    regenerate: useMutation({
      mutationFn: (short: string) => post<Robot>(`${base(org)}/${encodeURIComponent(short)}/regenerate`),
      onSuccess: (robot, short) => client.setQueryData(['robot', org ?? '', short], robot),
    }),
  };
}
