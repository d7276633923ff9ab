# kiln lit configuration: every .kir file under tests/lit is a test.
import os

import lit.formats

config.name = "kiln"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".kir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "tests", "lit")

config.substitutions.append(("kiln-opt", os.path.join(config.kiln_tools_dir, "kiln-opt")))
config.substitutions.append(("kiln-run", os.path.join(config.kiln_tools_dir, "kiln-run")))
config.substitutions.append(("FileCheck", config.filecheck))
config.environment["PATH"] = os.pathsep.join(
    [config.kiln_tools_dir, os.path.dirname(config.filecheck), config.environment.get("PATH", "")])
