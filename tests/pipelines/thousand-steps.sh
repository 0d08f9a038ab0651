#!/bin/sh
# Writes a pipeline with N `sh 'true'` steps (default 1000) to stdout, for the step-overhead benchmark.
n=${1:-1000}
echo "pipeline {"
echo "  agent any"
echo "  stages {"
echo "    stage('Steps') {"
echo "      steps {"
i=0
while [ "$i" -lt "$n" ]; do
  echo "        sh 'true'"
  i=$((i + 1))
done
echo "      }"
echo "    }"
echo "  }"
echo "}"
