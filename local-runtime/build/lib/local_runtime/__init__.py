"""Docker-free local runtime for the synthesized app (cdk.out): moto data plane, Lambda workers, IAM."""
