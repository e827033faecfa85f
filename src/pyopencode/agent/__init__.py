"""Agents and the loop that runs a prompt through a model and its tools."""

from pyopencode.agent.agents import AgentInfo, get_agent, list_agents
from pyopencode.agent.runner import Job, Runner

__all__ = ["AgentInfo", "Job", "Runner", "get_agent", "list_agents"]
