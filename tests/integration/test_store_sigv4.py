"""sigv4 towards Amazon Managed Service for Prometheus: rwgate forwards over https to the
AMP stand-in (tests/fixtures/amp.py), which checks every request's signature with
python3-botocore for service "aps" and passes valid bodies to a real VictoriaMetrics.
Keys come from the shared credentials file, rotate while data is queued, are refused when
wrong, and are assumed through STS (the aws emulator's AssumeRole)."""
import os
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import amp  # noqa: E402
import aws_emulator  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/rwgate-amp-writer"


class StoreSigV4Test(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        harness.make_pki(self.ws.dir)
        self.vm = self.ws.victoria_metrics()
        self.creds = {}
        self.amp = amp.AmpWriteEndpoint(self.creds, "us-east-1", self.vm.url + "/api/v1/write",
                                        tls=(self.ws.path("server.pem"), self.ws.path("server.key")))
        self.addCleanup(self.amp.close)

    def env(self, **extra):
        """No AWS settings of this machine leak in; no IMDS lookups."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(extra)
        return env

    def gateway(self, sigv4, env, name="rwgate"):
        return self.ws.rwgate(f"""
sinks:
  - name: amp
    remote_write:
      url: {self.amp.url}
      tls_config: {{ ca_file: {self.ws.path('ca.pem')} }}
      sigv4: {sigv4}
      queue: {{ batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 200ms }}
""", name=name, env=env)

    def credentials_file(self, key, secret, mtime=None):
        path = self.ws.write("credentials", f"[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                                            f"[amp]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
        if mtime is not None:
            os.utime(path, ns=(mtime, mtime))
        return path

    def test_shared_file_keys_sign_and_a_rotation_while_queued_loses_nothing(self):
        self.creds["AKIDAMPWRITER000001"] = ("secret-number-one-0000000000000000000001", None)
        path = self.credentials_file("AKIDAMPWRITER000001", "secret-number-one-0000000000000000000001")
        gw = self.gateway("{ region: us-east-1, profile: amp }", self.env(AWS_SHARED_CREDENTIALS_FILE=path))
        gw.write_series("first")
        self.vm.wait_for_job("first", 5)
        self.assertEqual(self.amp.count(status=403), 0)
        signed = self.amp.signed_headers()[-1].split(";")
        for h in ["content-encoding", "content-type", "host", "x-amz-date", "x-prometheus-remote-write-version"]:
            self.assertIn(h, signed)
        self.assertNotIn("user-agent", signed)

        # The key is rotated: the file gets the new one (same size, and the old mtime put
        # back, so only a refusal can make rwgate look again), the old one stops working.
        mtime = os.stat(path).st_mtime_ns
        self.credentials_file("AKIDAMPWRITER000002", "secret-number-two-0000000000000000000002", mtime=mtime)
        self.creds["AKIDAMPWRITER000002"] = ("secret-number-two-0000000000000000000002", None)
        del self.creds["AKIDAMPWRITER000001"]
        gw.write_series("rotated", n=50)
        self.vm.wait_for_job("rotated", 50, "series sent while the key rotated")
        self.assertGreaterEqual(self.amp.count(status=403), 1)  # the old key was tried, refused
        self.assertEqual(self.amp.key_ids()[-1], "AKIDAMPWRITER000002")
        self.assertEqual(gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="amp"}'), 0)
        self.assertNotIn("secret-number", gw.proc.output())

    def test_wrong_keys_are_refused_dropped_and_counted(self):
        gw = self.gateway("{ region: us-east-1, access_key: AKIDUNKNOWN0000000001, secret_key: wrong }", self.env())
        gw.write_series("wrong")
        harness.wait_until(lambda: gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="amp"}') == 5,
                           timeout=30, what="the refused samples counted")
        self.assertGreaterEqual(gw.metric('rwgate_sends_total{sink="amp",status="403"}'), 1)
        self.assertEqual(len(self.vm.export('{job="wrong"}')), 0)
        out = gw.proc.output()
        self.assertIn("The security token included in the request is invalid", out)  # the store's reason
        self.assertNotIn("secret_key", out)

    def test_role_assumed_through_sts_and_renewed_before_it_expires(self):
        emu = aws_emulator.Emulator(aws_emulator.Fleet(), self.creds)
        self.addCleanup(emu.close)
        self.creds["AKIDBASEUSER0000001"] = ("base-user-secret", None)
        emu.add_role(ROLE, ["AKIDBASEUSER0000001"])
        emu.sts_duration_override = 12  # renewed a quarter of its lifetime early: after 9 s
        gw = self.gateway(f"{{ region: us-east-1, access_key: AKIDBASEUSER0000001, secret_key: base-user-secret, "
                          f"role_arn: '{ROLE}' }}", self.env(AWS_ENDPOINT_URL_STS=emu.url))
        gw.write_series("role")
        self.vm.wait_for_job("role", 5)
        first = self.amp.key_ids()[-1]
        self.assertTrue(first.startswith("ASIA"), first)  # the role's temporary keys, not the user's
        self.assertEqual(emu.count("AssumeRole", 200), 1)
        time.sleep(10)
        gw.write_series("role-later")
        self.vm.wait_for_job("role-later", 5)
        self.assertEqual(emu.count("AssumeRole", 200), 2)
        self.assertNotEqual(self.amp.key_ids()[-1], first)
        self.assertEqual(self.amp.count(status=403), 0)
        # A role the user may not assume: nothing goes out signed, and the log says why.
        gw2 = self.gateway("{ region: us-east-1, access_key: AKIDBASEUSER0000001, secret_key: base-user-secret, "
                           "role_arn: 'arn:aws:iam::123456789012:role/other' }",
                           self.env(AWS_ENDPOINT_URL_STS=emu.url), name="rwgate-denied")
        gw2.write_series("denied")
        harness.wait_until(lambda: "AccessDenied" in gw2.proc.output(), timeout=30, what="the STS refusal logged")
        self.assertEqual(len(self.vm.export('{job="denied"}')), 0)

    def test_irsa_web_identity_token_traded_for_the_role_and_reread_when_rotated(self):
        # EKS IRSA: the pod has AWS_ROLE_ARN and a projected token file, no keys at all.
        emu = aws_emulator.Emulator(aws_emulator.Fleet(), self.creds)
        self.addCleanup(emu.close)
        emu.add_web_identity("eyJhbGciOiJSUzI1NiJ9.first-token.sig", ROLE)
        emu.sts_duration_override = 12  # renewed after 9 s
        token = self.ws.write("token", "eyJhbGciOiJSUzI1NiJ9.first-token.sig\n")
        env = self.env(AWS_ENDPOINT_URL_STS=emu.url, AWS_ROLE_ARN=ROLE, AWS_WEB_IDENTITY_TOKEN_FILE=token,
                       AWS_ROLE_SESSION_NAME="rwgate-pod-0", HOME=self.ws.dir)
        gw = self.gateway("{ region: us-east-1 }", env)
        gw.write_series("irsa")
        self.vm.wait_for_job("irsa", 5)
        self.assertTrue(self.amp.key_ids()[-1].startswith("ASIA"))
        self.assertEqual(emu.count("AssumeRoleWithWebIdentity", 200), 1)
        self.assertEqual(emu.assumed[-1][:2], (ROLE, "rwgate-pod-0"))
        # Kubernetes rotates the token; only the new one is good from now on.
        emu.web_identities = {"eyJhbGciOiJSUzI1NiJ9.second-token.sig": [ROLE]}
        self.ws.write("token", "eyJhbGciOiJSUzI1NiJ9.second-token.sig\n")
        time.sleep(10)
        gw.write_series("irsa-later")
        self.vm.wait_for_job("irsa-later", 5)
        self.assertEqual(emu.count("AssumeRoleWithWebIdentity", 200), 2)
        self.assertEqual(self.amp.count(status=403), 0)
        # A token the role does not trust: refused, the reason logged, the token never.
        bad = self.ws.write("bad-token", "eyJhbGciOiJSUzI1NiJ9.untrusted.sig\n")
        gw2 = self.gateway("{ region: us-east-1 }", dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=bad), name="rwgate-bad")
        gw2.write_series("untrusted")
        harness.wait_until(lambda: "InvalidIdentityToken" in gw2.proc.output(), timeout=30,
                           what="the STS refusal logged")
        self.assertNotIn("untrusted.sig", gw2.proc.output())
        self.assertNotIn("token.sig", gw.proc.output())
        self.assertEqual(len(self.vm.export('{job="untrusted"}')), 0)

    def config_errors(self, remote_write_extra):
        gw = self.ws.rwgate(f"""
sinks:
  - name: amp
    remote_write:
      url: https://example.com/api/v1/remote_write
{remote_write_extra}
""", wait_ready=False, env=self.env())
        gw.proc.proc.wait(timeout=30)
        self.assertEqual(gw.proc.proc.returncode, 2, gw.proc.output())
        return gw.proc.output()

    def test_config_errors(self):
        out = self.config_errors("      sigv4: { region: us-east-1 }\n      basic_auth: { username: u, password: p }")
        self.assertIn("sinks[0].remote_write.sigv4 (line 6): basic_auth and sigv4 are mutually exclusive", out)
        out = self.config_errors("      sigv4: { access_key: AKID }")
        self.assertIn("sinks[0].remote_write.sigv4.secret_key (line 6): access_key and secret_key go together", out)
        self.assertIn("sinks[0].remote_write.sigv4.region (line 6): missing", out)
        # The region of an AMP URL is the URL's.
        gw = self.ws.rwgate("""
sinks:
  - name: amp
    remote_write:
      url: https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write
      sigv4: {}
""", wait_ready=True, env=self.env(), name="region-from-url")
        self.assertIsNone(gw.proc.proc.poll())

if __name__ == "__main__":
    unittest.main()
