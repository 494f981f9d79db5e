// Robot accounts of an organization (or, with org null, of the signed-in user): create, show
// credentials, delete.
import {
  Button,
  Form,
  FormGroup,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  TextInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {RobotCredentials} from 'src/components/RobotCredentials';
import {shortName, useRobotChanges, useRobots} from 'src/hooks/UseRobots';

function CreateRobot({org, prefix, onCreated, onClose}: {
  org: string | null;
  prefix: string;
  onCreated: (name: string) => void;
  onClose: () => void;
}) {
  const [short, setShort] = useState('');
  const [description, setDescription] = useState('');
  const {create} = useRobotChanges(org);
  const submit = async () => {
    try {
      const robot = await create.mutateAsync({short, description});
      onCreated(robot.name);
    } catch {
      /* shown below */
    }
  };
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="create-robot-title">
      <ModalHeader title="Create robot account" labelId="create-robot-title" />
      <ModalBody>
        <Form id="create-robot-form" onSubmit={(e) => (e.preventDefault(), submit())}>
          <FormGroup label={`Name (${prefix}+...)`} isRequired fieldId="robot-name">
            <TextInput id="robot-name" isRequired value={short} onChange={(_e, v) => setShort(v)} />
          </FormGroup>
          <FormGroup label="Description" fieldId="robot-description">
            <TextInput id="robot-description" value={description} onChange={(_e, v) => setDescription(v)} />
          </FormGroup>
        </Form>
        <ErrorAlert error={create.error} />
      </ModalBody>
      <ModalFooter>
        <Button type="submit" form="create-robot-form" isDisabled={!short} isLoading={create.isPending}>
          Create robot account
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export function RobotsTab({org, prefix, canAdmin}: {org: string | null; prefix: string; canAdmin: boolean}) {
  const robots = useRobots(org);
  const {remove} = useRobotChanges(org);
  const [creating, setCreating] = useState(false);
  const [showing, setShowing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  return (
    <>
      {canAdmin ? (
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <Button onClick={() => setCreating(true)}>Create robot account</Button>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
      ) : null}
      <ErrorAlert error={robots.error} />
      {robots.isLoading ? (
        <Loading label="Loading robot accounts" />
      ) : (
        <Table aria-label="Robot accounts" variant="compact">
          <Thead>
            <Tr>
              <Th>Robot account</Th>
              <Th>Description</Th>
              <Th>Teams</Th>
              <Th>Repositories</Th>
              {canAdmin ? <Th screenReaderText="Actions" /> : null}
            </Tr>
          </Thead>
          <Tbody>
            {(robots.data ?? []).map((r) => (
              <Tr key={r.name}>
                <Td dataLabel="Robot account">{r.name}</Td>
                <Td dataLabel="Description">{r.description || '-'}</Td>
                <Td dataLabel="Teams">{(r.teams ?? []).map((t) => t.name).join(', ') || '-'}</Td>
                <Td dataLabel="Repositories">{(r.repositories ?? []).length}</Td>
                {canAdmin ? (
                  <Td isActionCell>
                    <Button variant="secondary" size="sm" onClick={() => setShowing(r.name)} aria-label={`Credentials of ${r.name}`}>
                      Credentials
                    </Button>{' '}
                    <Button variant="link" isDanger size="sm" onClick={() => setDeleting(r.name)} aria-label={`Delete ${r.name}`}>
                      Delete
                    </Button>
                  </Td>
                ) : null}
              </Tr>
            ))}
            {robots.data?.length === 0 ? (
              <Tr>
                <Td colSpan={5}>No robot accounts.</Td>
              </Tr>
            ) : null}
          </Tbody>
        </Table>
      )}
      {creating ? (
        <CreateRobot
          org={org}
          prefix={prefix}
          onClose={() => setCreating(false)}
          onCreated={(name) => {
            setCreating(false);
            setShowing(name);
          }}
        />
      ) : null}
      {showing ? <RobotCredentials org={org} robot={showing} onClose={() => setShowing(null)} /> : null}
      {deleting ? (
        <ConfirmDelete
          title={`Delete ${deleting}?`}
          body={<p>Its token stops working at once, and its permissions and team memberships go with it.</p>}
          onConfirm={() => remove.mutateAsync(shortName(deleting))}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </>
  );
}
