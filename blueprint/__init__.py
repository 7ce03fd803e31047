"""The pure core: a stack's settings (validated once) -> the rendered bundle -> the step plan.
No Pulumi import here (tests/test_blueprint_is_pure.py): the AWS components and the lab both
execute what this package decides."""
