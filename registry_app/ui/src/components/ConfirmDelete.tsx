// Deleting asks first; for what cannot be undone the name must be typed.
import {Button, Form, FormGroup, Modal, ModalBody, ModalFooter, ModalHeader, TextInput} from '@patternfly/react-core';
import {useState} from 'react';
import {ErrorAlert} from 'src/components/ErrorAlert';

interface Props {
  title: string;
  body: React.ReactNode;
  confirmText?: string; // when set, the user types it to enable the button
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
  action?: string;
}

export function ConfirmDelete({title, body, confirmText, onConfirm, onClose, action = 'Delete'}: Props) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const ready = !confirmText || typed === confirmText;
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="confirm-title">
      <ModalHeader title={title} labelId="confirm-title" titleIconVariant="warning" />
      <ModalBody>
        {body}
        {confirmText ? (
          <Form onSubmit={(e) => e.preventDefault()} style={{marginTop: '1rem'}}>
            <FormGroup label={`Type ${confirmText} to confirm`} fieldId="confirm-text">
              <TextInput id="confirm-text" value={typed} onChange={(_e, v) => setTyped(v)} />
            </FormGroup>
          </Form>
        ) : null}
        <ErrorAlert error={error} />
      </ModalBody>
      <ModalFooter>
        <Button variant="danger" onClick={confirm} isDisabled={!ready || busy} isLoading={busy}>
          {action}
        </Button>
        <Button variant="link" onClick={onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}
