// GET /api/v1/organization/{org}/members.
import {useQuery} from '@tanstack/react-query';
import {get, path} from 'src/libs/api';

export interface Member {
  name: string;
  teams: {name: string}[];
  repositories: string[];
}

export function useMembers(org: string, enabled = true) {
  return useQuery({
    queryKey: ['members', org],
    queryFn: () => get<{members: Member[]}>(path`/api/v1/organization/${org}/members`).then((b) => b.members),
    enabled,
  });
}
