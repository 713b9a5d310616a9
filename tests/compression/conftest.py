from compression_fixtures import cancer, cancer_mlp, digits, digits_resnet  # noqa: F401  shared fixtures
