// A robot's credentials, as Quay offers them: the token, `podman login`/`docker login`
// lines, a Kubernetes pull secret and a Docker config.json; regenerate the token.
import {
  Alert,
  Button,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  Stack,
  StackItem,
  Tab,
  Tabs,
  TabTitleText,
} from '@patternfly/react-core';
import {useState} from 'react';
import {CopyLine} from 'src/components/CopyLine';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useConfig} from 'src/hooks/UseConfig';
import {shortName, useRobot, useRobotChanges} from 'src/hooks/UseRobots';
import {dockerConfigJson, kubernetesSecret, loginCommand} from 'src/libs/registry';

export function RobotCredentials({org, robot, onClose}: {org: string | null; robot: string; onClose: () => void}) {
  const short = shortName(robot);
  const found = useRobot(org, short);
  const {regenerate} = useRobotChanges(org);
  const {data: config} = useConfig();
  const [tab, setTab] = useState<string | number>('token');
  const token = found.data?.token;
  return (
    <Modal isOpen variant="large" onClose={onClose} aria-labelledby="robot-credentials-title">
      <ModalHeader title={`Credentials for ${robot}`} labelId="robot-credentials-title" />
      <ModalBody>
        <ErrorAlert error={found.error ?? regenerate.error} />
        {found.isLoading || !token ? (
          found.isLoading ? <Loading label="Loading token" /> : null
        ) : (
          <Tabs activeKey={tab} onSelect={(_e, k) => setTab(k)} aria-label="Credential formats">
            <Tab eventKey="token" title={<TabTitleText>Robot account</TabTitleText>}>
              <Stack hasGutter style={{paddingTop: '1rem'}}>
                <StackItem>
                  <CopyLine label="Username" value={robot} />
                </StackItem>
                <StackItem>
                  <CopyLine label="Robot token" value={token} />
                </StackItem>
              </Stack>
            </Tab>
            <Tab eventKey="podman" title={<TabTitleText>Podman login</TabTitleText>}>
              <Stack hasGutter style={{paddingTop: '1rem'}}>
                <StackItem>
                  <CopyLine label="podman login command" value={loginCommand('podman', config, robot, token)} />
                </StackItem>
                <StackItem>The token goes to podman on its standard input, not on its command line.</StackItem>
              </Stack>
            </Tab>
            <Tab eventKey="docker" title={<TabTitleText>Docker login</TabTitleText>}>
              <div style={{paddingTop: '1rem'}}>
                <CopyLine label="docker login command" value={loginCommand('docker', config, robot, token)} />
              </div>
            </Tab>
            <Tab eventKey="kubernetes" title={<TabTitleText>Kubernetes secret</TabTitleText>}>
              <Stack hasGutter style={{paddingTop: '1rem'}}>
                <StackItem>
                  <CopyLine label="Kubernetes pull secret" value={kubernetesSecret(config, robot, token)} multiline />
                </StackItem>
                <StackItem>
                  Apply it with <code>kubectl apply -f secret.yaml</code> and name it in a pod's{' '}
                  <code>imagePullSecrets</code>.
                </StackItem>
              </Stack>
            </Tab>
            <Tab eventKey="dockerconfig" title={<TabTitleText>Docker config</TabTitleText>}>
              <div style={{paddingTop: '1rem'}}>
                <CopyLine label="Docker config.json" value={dockerConfigJson(config, robot, token)} multiline />
              </div>
            </Tab>
          </Tabs>
        )}
        {regenerate.isSuccess ? (
          <Alert variant="success" isInline title="A new token was made; the old one no longer works." />
        ) : null}
      </ModalBody>
      <ModalFooter>
        <Button variant="warning" onClick={() => regenerate.mutate(short)} isLoading={regenerate.isPending}>
          Regenerate token
        </Button>
        <Button variant="primary" onClick={onClose}>
          Close
        </Button>
      </ModalFooter>
    </Modal>
  );
}
