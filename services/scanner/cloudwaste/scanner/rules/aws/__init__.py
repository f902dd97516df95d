"""AWS detection rules, one module per service. Each rule evaluates one resource kind listed once
per region by the provider; importing this package registers them all."""

from cloudwaste.scanner.rules.aws import ebs, ec2, eip, elb, nat, snapshots  # noqa: F401
