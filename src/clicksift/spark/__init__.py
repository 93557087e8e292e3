"""Judging event logs on Apache Spark (the optional extra ``clicksift[spark]``).

The batch classifier's two passes run as Spark stages over Arrow record batches; the
judgement itself is the single-machine engine's, so the verdicts are the same (docs/scale.md).
"""

from clicksift.spark.judge import EngineSpec, SparkRun, judge_on_spark, spark_session

__all__ = ["EngineSpec", "SparkRun", "judge_on_spark", "spark_session"]
