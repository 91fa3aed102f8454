"""The RL algorithm core: pure, jittable functions registered by name.

* :mod:`~afjax.rl.shaping`: reward shaping of the mitigation arms (monitor
  penalties, length hinge, interrogation bonus), applied to the [B] rewards
  *before* the advantages;
* :mod:`~afjax.rl.advantages`: group-relative advantage estimators (GRPO,
  Dr.GRPO, RLOO) over a rollout batch of B = num_prompts x group_size rows,
  consecutive rows of a group sharing one prompt;
* :mod:`~afjax.rl.losses`: per-token policy losses (PPO clip, REINFORCE), loss
  aggregation modes, the k3 KL penalty and the combined :func:`rl_loss`.

Each registry is looked up by name (`get_advantage`, `get_policy_loss`,
`get_aggregation`, `shape_reward`); an unknown name raises a ValueError that
lists the registered names. All functions are pure and trace under `jax.jit`;
names, group sizes and shapes are static (checked in Python, not in the trace).
"""
