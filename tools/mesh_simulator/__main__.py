import sys

from mesh_simulator.cli import main

sys.exit(main())
