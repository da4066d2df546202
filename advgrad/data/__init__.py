"""The official dataset files: where they come from (`sources`), their formats (`idx`, `cifar`) and
their verified download (`fetch`); preprocessing and loading live in `advgrad.{mnist,cifar}.data`."""
