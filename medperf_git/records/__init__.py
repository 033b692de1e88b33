"""Registry records: their layout on disk, their schemas and the rules for changing them."""

from medperf_git.records.layout import RecordPath as RecordPath, parse_path as parse_path, record_path as record_path
from medperf_git.records.yamlio import YamlError as YamlError, dump_yaml as dump_yaml, load_yaml as load_yaml
