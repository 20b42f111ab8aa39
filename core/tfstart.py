"""TensorFlow, imported once and quietly: `from core.tfstart import tf` in every module that uses it.

TensorFlow's C++ start-up writes lines to stderr before its log level applies (absl logs
everything until it is initialised): the oneDNN notice, "Could not find cuda drivers", and
on a machine without a GPU "failed call to cuInit" at ERROR level. None of them is news to
a user. So the log level is set before the import, stderr is caught while TensorFlow loads
and probes its devices, and only lines that are not one of those known notices are passed
on (a real problem at start-up still shows).
"""
import os
import re
import sys
import tempfile

KNOWN_NOTICES = re.compile(r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers"
                           r"|failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory"
                           r"|computation placer already registered|TensorFlow binary is optimized")


def _import_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr to catch (an embedded interpreter)
        import tensorflow
        return tensorflow
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow
            tensorflow.config.list_physical_devices()  # the CUDA probe happens here, not at import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines():
                if line.strip() and not KNOWN_NOTICES.search(line):
                    print(line, file=sys.stderr)
    return tensorflow


tf = _import_quietly()
