"""Scheduling: trigger arithmetic and the scheduler loop that fires schedules into queues."""

from omniq.scheduling.build import build_schedule
from omniq.scheduling.scheduler import Scheduler, SchedulerSettings, tick_task_id
from omniq.scheduling.triggers import next_fire_time

__all__ = ["Scheduler", "SchedulerSettings", "build_schedule", "next_fire_time", "tick_task_id"]
