# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Run the collection's modules the way Ansible does: a separate Python process, arguments in
a JSON file, the result as JSON on stdout. Nothing inside the module is patched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS_ROOT = os.path.abspath(os.path.join(COLLECTION, "..", "..", ".."))
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)


class ModuleRun:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        try:
            self.result = json.loads(stdout)
        except ValueError:
            raise AssertionError("module printed no JSON:\nstdout=%s\nstderr=%s" % (stdout, stderr))

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)


@pytest.fixture
def run_module(tmp_path):
    def run(name, args, check_mode=False, diff=True, python=None):
        module_args = dict(args)
        module_args["_ansible_check_mode"] = check_mode
        module_args["_ansible_diff"] = diff
        args_file = tmp_path / ("args-%s.json" % name)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([COLLECTIONS_ROOT] + [p for p in sys.path if p])
        proc = subprocess.run(
            [python or sys.executable, os.path.join(COLLECTION, "plugins", "modules", name + ".py"), str(args_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True, check=False,
        )
        return ModuleRun(proc.returncode, proc.stdout, proc.stderr)

    return run
