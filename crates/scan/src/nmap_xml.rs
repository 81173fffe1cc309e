//! nmap XML output and import (being written).
