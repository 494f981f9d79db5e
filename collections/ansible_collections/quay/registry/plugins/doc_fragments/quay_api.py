# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options of the modules that talk to /api/v1 (same names and environment
    # variables as infra.quay_configuration / herve4m.quay, plus ca_path).
    DOCUMENTATION = r"""
options:
  quay_host:
    description:
      - URL of the registry, for example V(https://quay.example.com:8443). Without a scheme,
        C(https://) is assumed.
      - If not set, the E(QUAY_HOST) environment variable, else V(http://127.0.0.1).
    type: str
    default: http://127.0.0.1
  quay_token:
    description:
      - API (OAuth) access token, sent as a Bearer token in the C(Authorization) header.
      - If not set, the E(QUAY_TOKEN) environment variable.
      - Mutually exclusive with O(quay_username) and O(quay_password).
    type: str
  quay_username:
    description:
      - User name for HTTP basic authentication; needs O(quay_password).
      - If not set, the E(QUAY_USERNAME) environment variable.
    type: str
  quay_password:
    description:
      - Password of O(quay_username).
      - If not set, the E(QUAY_PASSWORD) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the registry's TLS certificate. Only set V(false) on test systems.
      - If not set, the E(QUAY_VERIFY_SSL) environment variable, else V(true).
    type: bool
    default: true
    aliases: [verify_ssl]
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the registry's certificate, for a
        private CA (such as the one the C(quay.registry.tls) role makes). Default is the
        system's trust store.
    type: path
  timeout:
    description: Seconds to wait for each API request.
    type: int
    default: 30
notes:
  - The modules use only the Python standard library and ansible-core on the managed host
    (usually C(localhost)); nothing needs to be installed.
  - All modules of the collection that talk to the API are in the action group
    C(quay.registry.quay), so the connection options can be set once with
    C(module_defaults) (see the examples).
"""
