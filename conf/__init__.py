"""The Hydra config tree, shipped as the package `vidgpt.conf` so installed commands find it.

Importing it (Hydra does, to read the configs) registers the resolvers the configs use.
"""

from omegaconf import OmegaConf

from vidgpt.cli.runs import run_folder

# `${first:${run_folder:${resume}},runs/x/${now:...}}`: the first value that is set. oc.select can't do
# this: it returns a key's None rather than its default.
OmegaConf.register_new_resolver("first", lambda *values: next((v for v in values if v not in (None, "")), None),
                                replace=True)
# the run folder `resume=` continues in: the folder named, or the one holding the checkpoint named
OmegaConf.register_new_resolver("run_folder", run_folder, replace=True)
