"""The aiusage CDK app: one stack, one construct per concern, Docker-free bundling, cdk-nag."""
