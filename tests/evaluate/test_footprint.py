import sys

import pytest

from forgeml.evaluate.footprint import INSTRUCTION_SETS, cpu, measurement_environment


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/cpuinfo is Linux's")
def test_the_cpu_read_from_proc_is_what_py_cpuinfo_probes():
    import cpuinfo

    probed = cpuinfo.get_cpu_info()
    name, cores, flags = cpu()
    assert name == probed["brand_raw"] and cores == probed["count"]
    assert [s for s in INSTRUCTION_SETS if s in flags] == [s for s in INSTRUCTION_SETS if s in probed["flags"]]


def test_the_measurement_environment_names_the_cpu_and_the_versions():
    environment = measurement_environment(threads=2)
    assert environment["cpu"] and environment["cores"] >= 1 and environment["threads"] == 2
    assert set(environment["instruction_sets"]) <= set(INSTRUCTION_SETS)
    assert environment["torch"].split("+")[0].count(".") == 2
