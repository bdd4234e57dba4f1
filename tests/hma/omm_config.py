# OpenMediaMatch configuration for the side-by-side harness (tests/hma):
# the settings of HMA's own test configuration (every role on, background
# tasks off), with the database of the throwaway cluster that
# run_api_tests.sh starts (HMA_DATABASE_URI).
import os

PRODUCTION = False
DATABASE_URI = os.environ["HMA_DATABASE_URI"]
ROLE_HASHER = True
ROLE_MATCHER = True
ROLE_CURATOR = True
TASK_FETCHER = False
TASK_INDEXER = False
TASK_INDEX_CACHE = False
MAX_CONTENT_LENGTH = 100 * 1024 * 1024
