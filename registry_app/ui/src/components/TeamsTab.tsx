// An organization's teams (role, members, repositories) and its members; admins create and
// delete teams and add or remove members.
import {
  Button,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  Stack,
  StackItem,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useMembers} from 'src/hooks/UseMembers';
import type {Organization} from 'src/hooks/UseOrganization';
import {useTeamChanges, useTeamMembers} from 'src/hooks/UseTeams';

const ROLES = ['member', 'creator', 'admin'];

function TeamMembers({org, team, canAdmin, onClose}: {org: string; team: string; canAdmin: boolean; onClose: () => void}) {
  const members = useTeamMembers(org, team);
  const {addMember, removeMember} = useTeamChanges(org);
  const [who, setWho] = useState('');
  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby="team-members-title">
      <ModalHeader title={`Members of ${team}`} labelId="team-members-title" />
      <ModalBody>
        {canAdmin ? (
          <Form
            onSubmit={(e) => {
              e.preventDefault();
              addMember.mutateAsync({team, member: who}).then(() => setWho(''), () => undefined);
            }}
          >
            <FormGroup label="Add a user or robot (org+name)" fieldId="team-add-member">
              <TextInput id="team-add-member" value={who} onChange={(_e, v) => setWho(v)} />
            </FormGroup>
            <Button type="submit" isDisabled={!who} isLoading={addMember.isPending}>
              Add member
            </Button>
          </Form>
        ) : null}
        <ErrorAlert error={members.error ?? addMember.error ?? removeMember.error} />
        {members.isLoading ? (
          <Loading />
        ) : (
          <Table aria-label={`Members of ${team}`} variant="compact">
            <Thead>
              <Tr>
                <Th>Member</Th>
                <Th>Kind</Th>
                {canAdmin ? <Th screenReaderText="Actions" /> : null}
              </Tr>
            </Thead>
            <Tbody>
              {(members.data ?? []).map((m) => (
                <Tr key={m.name}>
                  <Td dataLabel="Member">{m.name}</Td>
                  <Td dataLabel="Kind">{m.is_robot ? 'robot' : 'user'}</Td>
                  {canAdmin ? (
                    <Td isActionCell>
                      <Button variant="link" isDanger onClick={() => removeMember.mutate({team, member: m.name})} aria-label={`Remove ${m.name}`}>
                        Remove
                      </Button>
                    </Td>
                  ) : null}
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
      </ModalBody>
      <ModalFooter>
        <Button onClick={onClose}>Close</Button>
      </ModalFooter>
    </Modal>
  );
}

function CreateTeam({org, onClose}: {org: string; onClose: () => void}) {
  const {save} = useTeamChanges(org);
  const [name, setName] = useState('');
  const [role, setRole] = useState('member');
  const [description, setDescription] = useState('');
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="create-team-title">
      <ModalHeader title="Create team" labelId="create-team-title" />
      <ModalBody>
        <Form
          id="create-team-form"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutateAsync({name, role, description}).then(onClose, () => undefined);
          }}
        >
          <FormGroup label="Team name" isRequired fieldId="team-name">
            <TextInput id="team-name" isRequired value={name} onChange={(_e, v) => setName(v)} />
          </FormGroup>
          <FormGroup label="Role" fieldId="team-role">
            <FormSelect id="team-role" value={role} onChange={(_e, v) => setRole(v)}>
              {ROLES.map((r) => (
                <FormSelectOption key={r} value={r} label={r} />
              ))}
            </FormSelect>
          </FormGroup>
          <FormGroup label="Description" fieldId="team-description">
            <TextInput id="team-description" value={description} onChange={(_e, v) => setDescription(v)} />
          </FormGroup>
        </Form>
        <ErrorAlert error={save.error} />
      </ModalBody>
      <ModalFooter>
        <Button type="submit" form="create-team-form" isDisabled={!name} isLoading={save.isPending}>
          Create team
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export function TeamsTab({org}: {org: Organization}) {
  const canAdmin = org.is_admin;
  const members = useMembers(org.name, canAdmin);
  const {save, remove} = useTeamChanges(org.name);
  const [creating, setCreating] = useState(false);
  const [viewing, setViewing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const teams = (org.ordered_teams ?? []).map((n) => org.teams?.[n]).filter((t) => t !== undefined);
  return (
    <Stack hasGutter>
      <StackItem>
        <Title headingLevel="h2">Teams</Title>
        {canAdmin ? (
          <Toolbar>
            <ToolbarContent>
              <ToolbarItem>
                <Button onClick={() => setCreating(true)}>Create team</Button>
              </ToolbarItem>
            </ToolbarContent>
          </Toolbar>
        ) : null}
        <ErrorAlert error={save.error ?? remove.error} />
        <Table aria-label="Teams" variant="compact">
          <Thead>
            <Tr>
              <Th>Team</Th>
              <Th>Role</Th>
              <Th>Members</Th>
              <Th>Repositories</Th>
              <Th screenReaderText="Actions" />
            </Tr>
          </Thead>
          <Tbody>
            {teams.map((t) => (
              <Tr key={t.name}>
                <Td dataLabel="Team">
                  {t.name}
                  {t.description ? <div>{t.description}</div> : null}
                </Td>
                <Td dataLabel="Role">
                  {canAdmin && t.name !== 'owners' ? (
                    <FormSelect
                      aria-label={`Role of team ${t.name}`}
                      value={t.role}
                      onChange={(_e, v) => save.mutate({name: t.name, role: v, description: t.description})}
                    >
                      {ROLES.map((r) => (
                        <FormSelectOption key={r} value={r} label={r} />
                      ))}
                    </FormSelect>
                  ) : (
                    t.role
                  )}
                </Td>
                <Td dataLabel="Members">{t.member_count}</Td>
                <Td dataLabel="Repositories">{t.repo_count}</Td>
                <Td isActionCell>
                  {t.can_view ? (
                    <Button variant="secondary" size="sm" onClick={() => setViewing(t.name)} aria-label={`Members of team ${t.name}`}>
                      Members
                    </Button>
                  ) : null}{' '}
                  {canAdmin && t.name !== 'owners' ? (
                    <Button variant="link" isDanger size="sm" onClick={() => setDeleting(t.name)} aria-label={`Delete team ${t.name}`}>
                      Delete
                    </Button>
                  ) : null}
                </Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      </StackItem>
      {canAdmin ? (
        <StackItem>
          <Title headingLevel="h2">Members</Title>
          <ErrorAlert error={members.error} />
          {members.isLoading ? (
            <Loading />
          ) : (
            <Table aria-label="Organization members" variant="compact">
              <Thead>
                <Tr>
                  <Th>User</Th>
                  <Th>Teams</Th>
                  <Th>Repositories with a role</Th>
                </Tr>
              </Thead>
              <Tbody>
                {(members.data ?? []).map((m) => (
                  <Tr key={m.name}>
                    <Td dataLabel="User">{m.name}</Td>
                    <Td dataLabel="Teams">{m.teams.map((t) => t.name).join(', ')}</Td>
                    <Td dataLabel="Repositories with a role">{m.repositories.length}</Td>
                  </Tr>
                ))}
              </Tbody>
            </Table>
          )}
        </StackItem>
      ) : null}
      {creating ? <CreateTeam org={org.name} onClose={() => setCreating(false)} /> : null}
      {viewing ? <TeamMembers org={org.name} team={viewing} canAdmin={canAdmin} onClose={() => setViewing(null)} /> : null}
      {deleting ? (
        <ConfirmDelete
          title={`Delete team ${deleting}?`}
          body={<p>Its members lose the roles the team gave them.</p>}
          onConfirm={() => remove.mutateAsync(deleting)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </Stack>
  );
}
