"""Settings for the whole test suite."""

from ncdl.compiler import pipeline

# Every backend run in the tests verifies the IR after each pass, so a pass that
# breaks the IR contract fails here, naming the passes that ran (see pipeline.run_passes).
pipeline.VERIFY_EACH = True
