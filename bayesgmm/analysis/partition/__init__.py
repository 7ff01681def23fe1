"""One partition to report: losses on partitions and the search for the optimum."""
