"""Studies that go beyond the pipeline: measurements behind a finding, re-runnable one command each."""
