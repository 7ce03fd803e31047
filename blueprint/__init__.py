"""The pure core: a stack's settings (validated once) -> the rendered bundle -> the step plan.
No Pulumi import here (tests/unit/test_render.py::test_the_blueprint_package_never_imports_pulumi):
the AWS components and the lab both execute what this package decides."""
