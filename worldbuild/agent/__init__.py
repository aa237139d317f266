"""The agent side: the tools an agent calls in a world (for verl and for our own runner), the
reward, the ReAct runner behind `worldbuild rollout`, the difficulty filter, evaluation and
SFT trajectory export. verl is imported only by `verl_tools` and `verl_recipe`."""
