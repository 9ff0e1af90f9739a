"""The Lambda functions: each package is one handler, kept thin."""
