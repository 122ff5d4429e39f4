"""Stand-in for the get-pip bootstrap script that `ansible-test --venv` downloads.

ansible-test creates its sanity virtual environments without pip and fetches a get-pip script
from a site this machine cannot reach. This script does the same job from what is here: the
Python installation's own ensurepip gives the environment a pip, and that pip then installs
exactly the pinned packages ansible-test asks for (`pip==24.2` ...) from the package index.
It is called the way get-pip is: `python get_pip_X_Y.py [pip install options] packages`.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel", "--no-pip")

# In a child process: in-process, ensurepip clears PIP_* variables and points PIP_CONFIG_FILE at
# /dev/null, which would hide the machine's pip settings (its CA bundle) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip"])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
