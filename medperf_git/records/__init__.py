"""Registry records: their layout on disk, their schemas and the rules for changing them."""

from medperf_git.records.layout import RecordPath as RecordPath
from medperf_git.records.layout import parse_path as parse_path
from medperf_git.records.layout import record_path as record_path
from medperf_git.records.yamlio import YamlError as YamlError
from medperf_git.records.yamlio import dump_yaml as dump_yaml
from medperf_git.records.yamlio import load_yaml as load_yaml
