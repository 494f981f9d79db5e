// PUT /api/v1/user/: the signed-in user's password, e-mail and tag expiration.
import {useMutation, useQueryClient} from '@tanstack/react-query';
import {put} from 'src/libs/api';

export function useAccountChanges() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (changes: {password?: string; email?: string; tag_expiration_s?: number}) =>
      put('/api/v1/user/', changes),
    onSuccess: () => client.invalidateQueries({queryKey: ['user']}),
  });
}
