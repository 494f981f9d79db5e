// /organization: the signed-in user's organizations; create one.
import {
  Button,
  Form,
  FormGroup,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  PageSection,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {Link, useNavigate} from 'react-router-dom';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useCurrentUser} from 'src/hooks/UseCurrentUser';
import {useCreateOrganization} from 'src/hooks/UseOrganization';

function CreateOrganization({onClose}: {onClose: () => void}) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const create = useCreateOrganization();
  const navigate = useNavigate();
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="create-org-title">
      <ModalHeader title="Create organization" labelId="create-org-title" />
      <ModalBody>
        <Form
          id="create-org-form"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutateAsync({name, email: email || undefined}).then(() => {
              onClose();
              navigate(`/organization/${name}`);
            }, () => undefined);
          }}
        >
          <FormGroup label="Organization name" isRequired fieldId="org-name">
            <TextInput id="org-name" isRequired value={name} onChange={(_e, v) => setName(v)} />
          </FormGroup>
          <FormGroup label="E-mail" fieldId="org-new-email">
            <TextInput id="org-new-email" type="email" value={email} onChange={(_e, v) => setEmail(v)} />
          </FormGroup>
        </Form>
        <ErrorAlert error={create.error} />
      </ModalBody>
      <ModalFooter>
        <Button type="submit" form="create-org-form" isDisabled={!name} isLoading={create.isPending}>
          Create organization
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

export function OrganizationsList() {
  const user = useCurrentUser();
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Organizations</Title>
      </PageSection>
      <PageSection>
        <ErrorAlert error={user.error} />
        {user.isLoading ? <Loading /> : null}
        {user.data === null ? (
          <p>
            <Link to="/signin?next=/organization">Sign in</Link> to see your organizations.
          </p>
        ) : null}
        {user.data ? (
          <>
            <Toolbar>
              <ToolbarContent>
                <ToolbarItem>
                  <Button onClick={() => setCreating(true)}>Create organization</Button>
                </ToolbarItem>
              </ToolbarContent>
            </Toolbar>
            <Table aria-label="Organizations" variant="compact">
              <Thead>
                <Tr>
                  <Th>Organization</Th>
                  <Th>Your role</Th>
                </Tr>
              </Thead>
              <Tbody>
                {user.data.organizations.map((o) => (
                  <Tr key={o.name}>
                    <Td dataLabel="Organization">
                      <Link to={`/organization/${o.name}`}>{o.name}</Link>
                    </Td>
                    <Td dataLabel="Your role">{o.is_org_admin ? 'admin' : 'member'}</Td>
                  </Tr>
                ))}
                {user.data.organizations.length === 0 ? (
                  <Tr>
                    <Td colSpan={2}>You are in no organization yet.</Td>
                  </Tr>
                ) : null}
              </Tbody>
            </Table>
          </>
        ) : null}
        {creating ? <CreateOrganization onClose={() => setCreating(false)} /> : null}
      </PageSection>
    </>
  );
}
