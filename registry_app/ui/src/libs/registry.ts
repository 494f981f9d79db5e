// Commands and secrets users copy out of the UI: pull commands, robot logins, pull secrets.
import type {FrontendConfig} from 'src/hooks/UseConfig';

export function registryHost(config: FrontendConfig | undefined): string {
  return config?.config.SERVER_HOSTNAME || window.location.host;
}

// Plain HTTP registries need podman told so (TLS verification off), as the README does.
export function insecure(config: FrontendConfig | undefined): boolean {
  return (config?.config.PREFERRED_URL_SCHEME ?? window.location.protocol.replace(':', '')) === 'http';
}

export function pullCommand(
  tool: 'podman' | 'docker',
  config: FrontendConfig | undefined,
  reference: string,
): string {
  const flag = tool === 'podman' && insecure(config) ? ' --tls-verify=false' : '';
  return `${tool} pull${flag} ${registryHost(config)}/${reference}`;
}

// The token goes on stdin (a here-string), never into the process list.
export function loginCommand(
  tool: 'podman' | 'docker',
  config: FrontendConfig | undefined,
  username: string,
  token: string,
): string {
  const flag = tool === 'podman' && insecure(config) ? ' --tls-verify=false' : '';
  return `${tool} login${flag} -u='${username}' --password-stdin ${registryHost(config)} <<< '${token}'`;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

export function dockerConfigJson(config: FrontendConfig | undefined, username: string, token: string): string {
  const auth = base64(`${username}:${token}`);
  return JSON.stringify({auths: {[registryHost(config)]: {auth, email: ''}}}, null, 2);
}

export function kubernetesSecret(config: FrontendConfig | undefined, username: string, token: string): string {
  const name = `${username.replace(/[^a-z0-9-]/g, '-')}-pull-secret`;
  return [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${name}`,
    'data:',
    `  .dockerconfigjson: ${base64(dockerConfigJson(config, username, token))}`,
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
}
