// POST /api/v1/repository from a dialog: namespace (the user's or one of their organizations),
// name, visibility, description.
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
  Radio,
  TextArea,
  TextInput,
} from '@patternfly/react-core';
import {useState} from 'react';
import {useNavigate} from 'react-router-dom';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {useCurrentUser} from 'src/hooks/UseCurrentUser';
import {useCreateRepository} from 'src/hooks/UseRepositories';

export function CreateRepositoryModal({namespace, onClose}: {namespace?: string; onClose: () => void}) {
  const {data: user} = useCurrentUser();
  const namespaces = user ? [user.username, ...user.organizations.map((o) => o.name)] : [];
  const [ns, setNs] = useState(namespace ?? namespaces[0] ?? '');
  const [name, setName] = useState('');
  const [visibility, setVisibility] = useState<'public' | 'private'>('private');
  const [description, setDescription] = useState('');
  const create = useCreateRepository();
  const navigate = useNavigate();
  const submit = async () => {
    try {
      await create.mutateAsync({namespace: ns, repository: name, visibility, description});
      onClose();
      navigate(`/repository/${ns}/${name}`);
    } catch {
      /* shown below */
    }
  };
  return (
    <Modal isOpen variant="medium" onClose={onClose} aria-labelledby="create-repo-title">
      <ModalHeader title="Create repository" labelId="create-repo-title" />
      <ModalBody>
        <Form id="create-repo-form" onSubmit={(e) => (e.preventDefault(), submit())}>
          <FormGroup label="Namespace" isRequired fieldId="repo-namespace">
            <FormSelect id="repo-namespace" value={ns} onChange={(_e, v) => setNs(v)} aria-label="Namespace">
              {namespaces.map((n) => (
                <FormSelectOption key={n} value={n} label={n} />
              ))}
            </FormSelect>
          </FormGroup>
          <FormGroup label="Repository name" isRequired fieldId="repo-name">
            <TextInput id="repo-name" isRequired value={name} onChange={(_e, v) => setName(v)} />
          </FormGroup>
          <FormGroup role="radiogroup" isInline fieldId="repo-visibility" label="Visibility" isStack>
            <Radio
              id="repo-private"
              name="visibility"
              label="Private: only those given access can see and pull it"
              isChecked={visibility === 'private'}
              onChange={() => setVisibility('private')}
            />
            <Radio
              id="repo-public"
              name="visibility"
              label="Public: anyone can see and pull it"
              isChecked={visibility === 'public'}
              onChange={() => setVisibility('public')}
            />
          </FormGroup>
          <FormGroup label="Description (Markdown)" fieldId="repo-description">
            <TextArea id="repo-description" value={description} onChange={(_e, v) => setDescription(v)} />
          </FormGroup>
        </Form>
        <ErrorAlert error={create.error} />
      </ModalBody>
      <ModalFooter>
        <Button type="submit" form="create-repo-form" isDisabled={!ns || !name} isLoading={create.isPending}>
          Create
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}
